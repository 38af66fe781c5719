#!/bin/sh
# Builds the native client core (bridge/native) and copies the library into this package's
# Plugins/<platform>/ folder. Linux and macOS; for Windows see README.md.
#   unity_plugin/Tools~/build-native.sh [build-dir]     (default: build/native at the repo root)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
package=$(dirname "$here")
repo=$(dirname "$package")
build=${1:-"$repo/build/native"}

cmake -S "$repo/bridge/native" -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j2 --target lpm_client

case "$(uname -s)" in
  Linux)
    dest="$package/Plugins/Linux/x86_64"
    mkdir -p "$dest"
    # The real file behind the SONAME symlinks, under the name DllImport("lpm_client") finds.
    cp -L "$build/liblpm_client.so" "$dest/liblpm_client.so"
    ;;
  Darwin)
    dest="$package/Plugins/macOS"
    mkdir -p "$dest"
    cp -L "$build/liblpm_client.dylib" "$dest/liblpm_client.dylib"
    ;;
  *)
    echo "unsupported platform $(uname -s): see README.md" >&2
    exit 1
    ;;
esac
echo "copied to $dest"
