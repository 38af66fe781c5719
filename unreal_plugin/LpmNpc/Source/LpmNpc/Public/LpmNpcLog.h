// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"

/** Everything the plugin logs (runtime and editor modules): `Log LogLpmNpc Verbose` for more. */
LPMNPC_API DECLARE_LOG_CATEGORY_EXTERN(LogLpmNpc, Log, All);
