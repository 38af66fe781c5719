// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"
#include "Templates/UniquePtr.h"

class UTexture2D;

/** The face texture: shared by the face component and the editor preview. Game thread. */
namespace LpmFaceTexture
{
	/** A transient texture for Width x Height frames: RGBA8, sRGB, bilinear, clamped, no mips. */
	LPMNPC_API UTexture2D* Create(int32 Width, int32 Height);

	/**
	 * Hands Pixels (Width * Height * 4 bytes, rows top to bottom) to the render thread, which
	 * copies them into Texture and frees them; the game thread never waits for the GPU. Returns
	 * false, keeping Pixels, while the texture has no render resource yet.
	 */
	LPMNPC_API bool Upload(UTexture2D* Texture, TUniquePtr<uint8[]>& Pixels, int32 Width, int32 Height);
}
