// LPM NPC Faces for Unreal Engine: the native client core (bridge/native, C ABI lpm_client.h).
//
// Prebuilt per platform and staged by unreal_plugin/Tools/stage_native.sh (Linux, macOS) or by
// hand on Windows (see unreal_plugin/README.md):
//   Source/ThirdParty/LpmClient/include/lpm_client.h
//   Source/ThirdParty/LpmClient/lib/Win64/lpm_client.lib            (import library)
//   Binaries/ThirdParty/LpmClient/Win64/lpm_client.dll              (libzmq linked in statically)
//   Binaries/ThirdParty/LpmClient/Linux/liblpm_client.so.1
//   Binaries/ThirdParty/LpmClient/Mac/liblpm_client.1.dylib

using System.IO;
using UnrealBuildTool;

public class LpmClient : ModuleRules
{
	public LpmClient(ReadOnlyTargetRules Target) : base(Target)
	{
		Type = ModuleType.External;

		// The staged copy of the header; inside this repository the source of truth is used directly.
		string StagedInclude = Path.Combine(ModuleDirectory, "include");
		string RepositoryInclude = Path.GetFullPath(Path.Combine(ModuleDirectory, "..", "..", "..", "..", "..", "bridge", "native", "include"));
		bool bStaged = File.Exists(Path.Combine(StagedInclude, "lpm_client.h"));
		PublicSystemIncludePaths.Add(bStaged ? StagedInclude : RepositoryInclude);

		string BinariesDir = Path.Combine(PluginDirectory, "Binaries", "ThirdParty", "LpmClient");

		if (Target.Platform == UnrealTargetPlatform.Win64)
		{
			// Delay-loaded: FLpmNpcModule::StartupModule loads it from the plugin's Binaries.
			PublicAdditionalLibraries.Add(Path.Combine(ModuleDirectory, "lib", "Win64", "lpm_client.lib"));
			PublicDelayLoadDLLs.Add("lpm_client.dll");
			RuntimeDependencies.Add(Path.Combine(BinariesDir, "Win64", "lpm_client.dll"));
		}
		else if (Target.Platform == UnrealTargetPlatform.Linux)
		{
			// Linked by its SONAME (liblpm_client.so.1); the module's rpath finds it next to the plugin.
			string SharedObject = Path.Combine(BinariesDir, "Linux", "liblpm_client.so.1");
			PublicAdditionalLibraries.Add(SharedObject);
			RuntimeDependencies.Add(SharedObject);
		}
		else if (Target.Platform == UnrealTargetPlatform.Mac)
		{
			string Dylib = Path.Combine(BinariesDir, "Mac", "liblpm_client.1.dylib");
			PublicDelayLoadDLLs.Add(Dylib);
			RuntimeDependencies.Add(Dylib);
		}
	}
}
