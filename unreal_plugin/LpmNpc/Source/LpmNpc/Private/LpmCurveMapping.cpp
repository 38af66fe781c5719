// LPM NPC Faces for Unreal Engine.

#include "LpmCurveMapping.h"

#include "LpmConnection.h"

namespace LpmCurveMappingPrivate
{
	/** Live Link Face spellings of the runtime's curve names, built once (the names are fixed). */
	const TArray<FName>& LiveLinkNames()
	{
		static const TArray<FName> Names = []()
		{
			TArray<FName> Result;
			for (const FName& Name : FLpmConnection::CurveNames())
			{
				Result.Add(ULpmCurveMapping::LiveLinkName(Name));
			}
			return Result;
		}();
		return Names;
	}

	void Map(const TArray<float>& Values, const ULpmCurveMapping* Mapping, TMap<FName, float>& Out)
	{
		Out.Reset();
		const TArray<FName>& Arkit = FLpmConnection::CurveNames();
		const TArray<FName>& LiveLink = LiveLinkNames();
		const bool bLiveLink = Mapping == nullptr || Mapping->Naming == ELpmCurveNaming::LiveLinkFace;
		const float BlendshapeScale = Mapping != nullptr ? Mapping->BlendshapeScale : 1.0f;
		const float AngleScale = Mapping != nullptr ? Mapping->AngleScale : 1.0f;

		const int32 Count = FMath::Min3(Values.Num(), Arkit.Num(), LiveLink.Num());
		Out.Reserve(Count);
		for (int32 Index = 0; Index < Count; ++Index)
		{
			const bool bAngle = Index >= ULpmCurveMapping::FirstAngleCurve;
			const float Scale = bAngle ? AngleScale : BlendshapeScale;
			if (bAngle && Scale == 0.0f)
			{
				continue;
			}
			FName Target = bLiveLink ? LiveLink[Index] : Arkit[Index];
			if (Mapping != nullptr)
			{
				if (const FName* Override = Mapping->Overrides.Find(Arkit[Index]))
				{
					Target = *Override;
				}
			}
			if (!Target.IsNone())
			{
				Out.Add(Target, Values[Index] * Scale);
			}
		}
	}
} // namespace LpmCurveMappingPrivate

FName ULpmCurveMapping::GetTargetName(FName ArkitName) const
{
	if (const FName* Override = Overrides.Find(ArkitName))
	{
		return *Override;
	}
	return Naming == ELpmCurveNaming::LiveLinkFace ? LiveLinkName(ArkitName) : ArkitName;
}

void ULpmCurveMapping::Apply(const TArray<float>& Values, TMap<FName, float>& Out) const
{
	LpmCurveMappingPrivate::Map(Values, this, Out);
}

void ULpmCurveMapping::ApplyDefault(const TArray<float>& Values, TMap<FName, float>& Out)
{
	LpmCurveMappingPrivate::Map(Values, nullptr, Out);
}

FName ULpmCurveMapping::LiveLinkName(FName ArkitName)
{
	FString Text = ArkitName.ToString();
	if (!Text.IsEmpty())
	{
		Text[0] = FChar::ToUpper(Text[0]);
	}
	return FName(*Text);
}
