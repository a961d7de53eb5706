"""The PySide6 window: thin views over workbench services."""

from ui import qt_fixes

qt_fixes.install()
