"""The check that runs before Qt can abort on a minimal Linux (pure functions, fake loaders)."""

from __future__ import annotations

from ui.platform_libs import XCB_LIBRARIES, install_hint, missing_libraries, uses_xcb


def test_missing_libraries_become_one_line_with_apt_and_dnf_names():
    gone = {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
    missing = missing_libraries(loads=lambda soname: soname not in gone)
    assert set(missing) == gone
    line = install_hint(missing)
    assert "\n" not in line
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in line
    assert "sudo dnf install xcb-util-cursor xcb-util-keysyms xcb-util-wm" in line
    assert "libxcb-cursor.so.0" in line


def test_nothing_missing_means_no_message():
    assert missing_libraries(loads=lambda soname: True) == []


def test_every_library_names_both_packages():
    for soname, (apt, dnf) in XCB_LIBRARIES.items():
        assert soname.startswith("lib") and ".so." in soname
        assert apt and dnf


def test_only_linux_sessions_that_use_xcb_are_checked():
    assert uses_xcb("linux", {})
    assert uses_xcb("linux", {"QT_QPA_PLATFORM": "xcb"})
    assert not uses_xcb("linux", {"QT_QPA_PLATFORM": "offscreen"})
    assert not uses_xcb("linux", {"WAYLAND_DISPLAY": "wayland-0"})
    assert not uses_xcb("win32", {})
    assert not uses_xcb("darwin", {})


def test_this_machine_has_the_libraries_it_reports():
    """The real loader agrees with itself: whatever it reports missing really fails."""
    import ctypes

    for soname in missing_libraries():
        try:
            ctypes.CDLL(soname)
        except OSError:
            continue
        raise AssertionError(f"{soname} loads but was reported missing")
