// LPM NPC Faces for Unreal Engine: the editor module (preview tab, character preparation).

using UnrealBuildTool;

public class LpmNpcEditor : ModuleRules
{
	public LpmNpcEditor(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;

		PublicDependencyModuleNames.AddRange(new string[]
		{
			"Core",
			"CoreUObject",
			"Engine",
		});

		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"LpmNpc",
			"LpmClient",
			"Slate",
			"SlateCore",
			"InputCore",
			"UnrealEd",        // GEditor: preview audio
			"ToolMenus",       // Tools menu entries
			"PropertyEditor",  // SObjectPropertyEntryBox (sound wave picker)
			"AssetRegistry",   // FAssetData
			"DesktopPlatform", // the portrait file dialog
		});
	}
}
