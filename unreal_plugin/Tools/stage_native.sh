#!/bin/sh
# Builds the native client core (bridge/native) and stages it into the Unreal plugin:
#   LpmNpc/Source/ThirdParty/LpmClient/include/lpm_client.h
#   LpmNpc/Binaries/ThirdParty/LpmClient/Linux/liblpm_client.so.1     (Linux)
#   LpmNpc/Binaries/ThirdParty/LpmClient/Mac/liblpm_client.1.dylib    (macOS)
# Windows: see README.md ("Building the native core").
#
#   unreal_plugin/Tools/stage_native.sh [build-dir] [extra cmake arguments...]
#
# Default build dir: build/native at the repository root (shared with the native core's tests);
# JOBS sets the build parallelism (default 2).
# For a self-contained library, build libzmq statically first and pass its prefix, e.g.
#   unreal_plugin/Tools/stage_native.sh build/native-ue -DCMAKE_PREFIX_PATH=$HOME/zmq-static
set -eu
here=$(cd "$(dirname "$0")" && pwd)
unreal=$(dirname "$here")
repo=$(dirname "$unreal")
plugin="$unreal/LpmNpc"
build=${1:-"$repo/build/native"}
[ $# -gt 0 ] && shift

cmake -S "$repo/bridge/native" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build" -j"${JOBS:-2}" --target lpm_client

mkdir -p "$plugin/Source/ThirdParty/LpmClient/include"
cp "$repo/bridge/native/include/lpm_client.h" "$plugin/Source/ThirdParty/LpmClient/include/"

case "$(uname -s)" in
  Linux)
    dest="$plugin/Binaries/ThirdParty/LpmClient/Linux"
    mkdir -p "$dest"
    # The real file under its SONAME: the plugin module links it and loads it by that name.
    cp -L "$build/liblpm_client.so" "$dest/liblpm_client.so.1"
    ;;
  Darwin)
    dest="$plugin/Binaries/ThirdParty/LpmClient/Mac"
    mkdir -p "$dest"
    # Its install name is @rpath/liblpm_client.1.dylib.
    cp -L "$build/liblpm_client.dylib" "$dest/liblpm_client.1.dylib"
    ;;
  *)
    echo "unsupported platform $(uname -s): see README.md" >&2
    exit 1
    ;;
esac
echo "staged lpm_client.h and the library into $plugin"
