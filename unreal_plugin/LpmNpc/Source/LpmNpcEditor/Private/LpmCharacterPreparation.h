// LPM NPC Faces for Unreal Engine.

#pragma once

#include "CoreMinimal.h"

/**
 * Character preparation through the runtime (`prepare_character`): the runtime builds a
 * character asset from one portrait (landmarks, rig, textures) and adds it to its registry;
 * the returned id is what a face's Character names. Editor only; modal, with a cancel button.
 */
namespace LpmCharacterPreparation
{
	/** Asks for a PNG/JPEG file, prepares it, and reports the result in a dialog. */
	bool PrepareFromPortraitDialog(FString& OutCharacterId);

	/** Prepares the portrait at Path; OutMessage says what happened either way. */
	bool PrepareFromFile(const FString& Path, FString& OutCharacterId, FText& OutMessage);

	/** "Old Man (2).png" -> "Old_Man_2": the file name made safe (letters, digits, '-', '_'; 128 max). */
	FString MakeCharacterId(const FString& Path);
}
