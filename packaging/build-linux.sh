#!/usr/bin/env bash
# Build the Linux bundle: packaging/dist/llm-workbench/ (onedir), then
# llm-workbench-VERSION-linux-x86_64[-VARIANT].tar.gz and, when appimagetool is on PATH, an
# AppImage next to it.
#
#   packaging/build-linux.sh            # uses ./.venv if present, else python3 on PATH
#   PYTHON=/path/to/python VARIANT=cuda WORKBENCH_DEMO=1 packaging/build-linux.sh
#
# The Python environment must have the project installed (pip install -e .); for the CUDA
# variant, llama-cpp-python built with CMAKE_ARGS="-DGGML_CUDA=on". PyInstaller is a build
# tool, not a dependency of the app: it is installed here.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
VARIANT=${VARIANT:-cpu}
DIST=packaging/dist
ARCH=$(uname -m)

# Qt's xcb and wayland plugins link these; PyInstaller bundles them only if the build machine
# has them (it warns "Library not found" otherwise and the bundle fails on a bare desktop).
QT_SYSTEM_LIBS=(libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libwayland-cursor0 libwayland-egl1)
if command -v dpkg >/dev/null 2>&1; then
    missing=()
    for pkg in "${QT_SYSTEM_LIBS[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
        else
            echo "missing: ${missing[*]} (apt-get install them; the bundle would lack them)" >&2
            exit 1
        fi
    fi
fi

"$PYTHON" -m pip install --quiet "pyinstaller>=6.10"
"$PYTHON" -m PyInstaller packaging/workbench.spec --noconfirm --log-level WARN \
    --workpath packaging/build --distpath "$DIST"

VERSION=$("$PYTHON" -c "import workbench; print(workbench.__version__)")
SUFFIX=$([ "$VARIANT" = cpu ] && echo "" || echo "-$VARIANT")
NAME="llm-workbench-$VERSION-linux-$ARCH$SUFFIX"
cp packaging/linux/llm-workbench.desktop packaging/linux/llm-workbench.svg "$DIST/llm-workbench/"
tar -C "$DIST" -czf "$DIST/$NAME.tar.gz" --transform "s,^llm-workbench,$NAME," llm-workbench
echo "built $DIST/$NAME.tar.gz"

# AppImage: the onedir bundle in an AppDir. appimagetool is not packaged by Debian/Ubuntu
# nor on PyPI; the release workflow downloads it. Without it, the tar.gz is the result.
if command -v appimagetool >/dev/null; then
    APPDIR="packaging/build/AppDir"
    rm -rf "$APPDIR" && mkdir -p "$APPDIR/usr"
    cp -a "$DIST/llm-workbench" "$APPDIR/usr/lib"
    cp packaging/linux/AppRun "$APPDIR/AppRun" && chmod +x "$APPDIR/AppRun"
    cp packaging/linux/llm-workbench.desktop packaging/linux/llm-workbench.svg "$APPDIR/"
    ARCH=$ARCH appimagetool --no-appstream "$APPDIR" "$DIST/$NAME.AppImage"
    echo "built $DIST/$NAME.AppImage"
else
    echo "appimagetool not on PATH: no AppImage (the tar.gz is complete)" >&2
fi
