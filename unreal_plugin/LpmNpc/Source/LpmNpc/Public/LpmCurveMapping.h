// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"
#include "Engine/DataAsset.h"

#include "LpmCurveMapping.generated.h"

/** How curve names are spelled on the animation side. */
UENUM(BlueprintType)
enum class ELpmCurveNaming : uint8
{
	/**
	 * Live Link Face / Apple ARKit names (EyeBlinkLeft, JawOpen, ..., HeadYaw, LeftEyeYaw): what
	 * the MetaHuman face Animation Blueprint's ARKit mapping pose asset is driven by.
	 */
	LiveLinkFace,
	/** The runtime's camelCase names unchanged (eyeBlinkLeft, jawOpen, ...). */
	ArkitCamelCase
};

/**
 * Renames (and scales) the face's 61 curves for an Animation Blueprint: ARKit to MetaHuman by
 * default, or to any rig's curve names through Overrides. Create one with Content Browser >
 * Miscellaneous > Data Asset > LpmCurveMapping and assign it to the face's Curve Mapping.
 */
UCLASS(BlueprintType)
class LPMNPC_API ULpmCurveMapping : public UDataAsset
{
	GENERATED_BODY()

public:
	/** Target spelling for curves without an override. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "Mapping")
	ELpmCurveNaming Naming = ELpmCurveNaming::LiveLinkFace;

	/**
	 * Per-curve target names that win over Naming. Key: the runtime's camelCase name
	 * (jawOpen); value: the rig's curve (CTRL_expressions_jawOpen, say). A None value drops
	 * the curve.
	 */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "Mapping")
	TMap<FName, FName> Overrides;

	/** Multiplier for the 52 blendshapes (0..1 from the runtime); 100 for rigs whose weights go to 100. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "Mapping")
	float BlendshapeScale = 1.0f;

	/** Multiplier for head and eye angles (radians from the runtime); 57.29578 for degrees, 0 drops them. */
	UPROPERTY(EditAnywhere, BlueprintReadOnly, Category = "Mapping")
	float AngleScale = 1.0f;

	/** Target name of one runtime curve, None when it is dropped. */
	UFUNCTION(BlueprintPure, Category = "LPM|Curves")
	FName GetTargetName(FName ArkitName) const;

	/** Maps the 61 curve values (protocol order) to target names. */
	void Apply(const TArray<float>& Values, TMap<FName, float>& Out) const;

	/** The default mapping (Live Link Face names, no scaling): MetaHuman. */
	static void ApplyDefault(const TArray<float>& Values, TMap<FName, float>& Out);

	/** "jawOpen" -> "JawOpen". */
	static FName LiveLinkName(FName ArkitName);

	/** Curves 0..51 are blendshapes, 52..60 head and eye angles (PROTOCOL.md section 6). */
	static constexpr int32 FirstAngleCurve = 52;
};
