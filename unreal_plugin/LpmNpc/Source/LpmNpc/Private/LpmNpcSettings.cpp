// LPM NPC Faces for Unreal Engine.

#include "LpmNpcSettings.h"

#define LOCTEXT_NAMESPACE "LpmNpcSettings"

ULpmNpcSettings::ULpmNpcSettings()
{
	CategoryName = TEXT("Plugins");
	SectionName = TEXT("LpmNpc");
}

FName ULpmNpcSettings::GetCategoryName() const
{
	return TEXT("Plugins");
}

#if WITH_EDITOR
FText ULpmNpcSettings::GetSectionText() const
{
	return LOCTEXT("SectionText", "LPM NPC");
}
#endif

#undef LOCTEXT_NAMESPACE
