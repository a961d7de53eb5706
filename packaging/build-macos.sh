#!/usr/bin/env bash
# Build the macOS app and disk image: packaging/dist/Workbench.app and
# packaging/dist/llm-workbench-VERSION-macos-arm64.dmg (drag Workbench to Applications).
#
#   packaging/build-macos.sh            # uses ./.venv if present, else python3 on PATH
#   CODESIGN_IDENTITY="Developer ID Application: ..." packaging/build-macos.sh
#
# llama-cpp-python builds with Metal by default on Apple Silicon (the GPU variant is the only
# variant on macOS). Without CODESIGN_IDENTITY the app is signed ad hoc, which Gatekeeper
# accepts after "Open" from the context menu; a public release needs a Developer ID
# signature and notarization (xcrun notarytool), which need Apple credentials.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
DIST=packaging/dist

"$PYTHON" -m pip install --quiet "pyinstaller>=6.10"
"$PYTHON" -m PyInstaller packaging/workbench.spec --noconfirm --log-level WARN \
    --workpath packaging/build --distpath "$DIST"

VERSION=$("$PYTHON" -c "import workbench; print(workbench.__version__)")
NAME="llm-workbench-$VERSION-macos-$(uname -m)"
STAGE=packaging/build/dmg
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -R "$DIST/Workbench.app" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname Workbench -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov \
    "$DIST/$NAME.dmg"
echo "built $DIST/$NAME.dmg"
