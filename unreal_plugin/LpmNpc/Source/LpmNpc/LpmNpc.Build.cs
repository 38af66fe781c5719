// LPM NPC Faces for Unreal Engine: the runtime module.

using UnrealBuildTool;

public class LpmNpc : ModuleRules
{
	public LpmNpc(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;

		PublicDependencyModuleNames.AddRange(new string[]
		{
			"Core",
			"CoreUObject",
			"Engine",
			"DeveloperSettings", // ULpmNpcSettings (Project Settings > Plugins)
			"LpmClient",         // the native client core's C ABI (Source/ThirdParty/LpmClient)
		});

		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"RHI",              // FUpdateTextureRegion2D
			"AudioCaptureCore", // Audio::FAudioCapture (backends come with the AudioCapture plugin)
			"Synthesis",        // USubmixEffectDelayPreset (the voice delay)
			"Projects",         // IPluginManager: where the native library was staged
		});
	}
}
