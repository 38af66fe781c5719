// LPM NPC Faces for Unreal Engine.

#include "LpmFaceTexture.h"

#include "Engine/Texture2D.h"
#include "RHITypes.h"

UTexture2D* LpmFaceTexture::Create(int32 Width, int32 Height)
{
	if (Width <= 0 || Height <= 0)
	{
		return nullptr;
	}
	// Frames are R, G, B, A bytes per pixel (PF_R8G8B8A8), straight alpha, sRGB-encoded colour.
	// CreateTransient makes a non-streamed texture, which UpdateTextureRegions requires.
	UTexture2D* Texture = UTexture2D::CreateTransient(Width, Height, PF_R8G8B8A8);
	if (Texture == nullptr)
	{
		return nullptr;
	}
	Texture->SRGB = true;
	Texture->Filter = TF_Bilinear;
	Texture->AddressX = TA_Clamp;
	Texture->AddressY = TA_Clamp;
	Texture->UpdateResource();
	return Texture;
}

bool LpmFaceTexture::Upload(UTexture2D* Texture, TUniquePtr<uint8[]>& Pixels, int32 Width, int32 Height)
{
	if (Texture == nullptr || !Pixels.IsValid() || Texture->GetResource() == nullptr
		|| Texture->GetSizeX() != Width || Texture->GetSizeY() != Height)
	{
		return false;
	}
	// The region and the pixels belong to the render command from here on; its cleanup frees them.
	FUpdateTextureRegion2D* Region = new FUpdateTextureRegion2D(0, 0, 0, 0, static_cast<uint32>(Width), static_cast<uint32>(Height));
	Texture->UpdateTextureRegions(0, 1, Region, static_cast<uint32>(Width) * 4, 4, Pixels.Release(),
		[](uint8* SrcData, const FUpdateTextureRegion2D* Regions)
		{
			delete[] SrcData;
			delete Regions;
		});
	return true;
}
