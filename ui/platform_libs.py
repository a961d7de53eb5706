"""Before Qt can abort: are the X11 platform plugin's system libraries there?

On a minimal Linux, Qt's xcb plugin fails to load when libxcb-cursor0 (needed since Qt 6.5),
libxcb-icccm4, libxcb-keysyms1 or a few others are missing; Qt then prints "could not load
the Qt platform plugin xcb" and aborts (SIGABRT) with no hint of what to install. This
module asks the dynamic loader for each library first and turns the missing ones into one
line naming the packages, for apt and dnf. It imports nothing from Qt, so it runs before any
Qt library is loaded.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

#: soname -> (Debian/Ubuntu package, Fedora/RHEL package). What Qt 6's xcb plugin loads.
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
}


def uses_xcb(platform: str = sys.platform, env: Mapping[str, str] = os.environ) -> bool:
    """Whether Qt will try the xcb plugin: Linux, not offscreen/wayland-only, an X session
    (or no session hint at all, where xcb is Qt's default)."""
    if not platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    return not env.get("WAYLAND_DISPLAY")


def _loads(soname: str) -> bool:
    """The loader finds it (system paths, LD_LIBRARY_PATH), or Qt's own folder ships it."""
    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        pass
    try:
        import importlib.util

        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    folder = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "lib"
    return (folder / soname).exists()


def missing_libraries(libraries: Iterable[str] = XCB_LIBRARIES,
                      loads: Callable[[str], bool] = _loads) -> list[str]:
    return [soname for soname in libraries if not loads(soname)]


def install_hint(missing: Iterable[str]) -> str:
    """One line: what is missing and the apt and dnf commands that bring it."""
    missing = list(missing)
    apt = sorted({XCB_LIBRARIES[s][0] for s in missing if s in XCB_LIBRARIES})
    dnf = sorted({XCB_LIBRARIES[s][1] for s in missing if s in XCB_LIBRARIES})
    return (f"llm-workbench: the window needs system libraries that are missing "
            f"({', '.join(missing)}). Install them with: sudo apt install {' '.join(apt)}"
            f"  (Fedora: sudo dnf install {' '.join(dnf)}), or run with "
            f"QT_QPA_PLATFORM=wayland on a Wayland desktop.")


def check_platform_libraries() -> str | None:
    """The line to print and exit with, or None when the window can start."""
    if not uses_xcb():
        return None
    missing = missing_libraries()
    return install_hint(missing) if missing else None
