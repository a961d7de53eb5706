"""Light and dark looks on Qt's Fusion style, following the OS unless the user chose one.

Fusion draws the same on every platform, so one palette and one small style sheet give a
tidy, current look everywhere. Widgets never pick colours themselves: they set an object
name (``CodeBlock``, ``UserBubble``...) and this style sheet colours it, so switching theme
restyles every open widget at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Colors:
    window: str
    base: str
    alt: str
    panel: str
    text: str
    muted: str
    border: str
    accent: str
    accent_text: str
    bubble: str
    code_bg: str
    code_border: str
    highlight_bg: str
    error_bg: str
    error_text: str
    ok: str


LIGHT = Colors(
    window="#f5f6f8", base="#ffffff", alt="#f0f2f5", panel="#eceef2", text="#1f2328",
    muted="#656d76", border="#d8dce2", accent="#2f6fed", accent_text="#ffffff",
    bubble="#e8effd", code_bg="#f6f8fa", code_border="#d8dee4", highlight_bg="#fff2a8",
    error_bg="#fdecea", error_text="#a4262c", ok="#1a7f37",
)
DARK = Colors(
    window="#1e1f22", base="#26282c", alt="#2b2d31", panel="#191a1c", text="#e6e7e9",
    muted="#9a9ea6", border="#3a3d42", accent="#5b8cff", accent_text="#ffffff",
    bubble="#2f3a52", code_bg="#17181a", code_border="#3a3d42", highlight_bg="#6b5a12",
    error_bg="#4a2225", error_text="#ffb3b0", ok="#57c26b",
)

_current = LIGHT


def current() -> Colors:
    """The colours in use (for the few places that paint: highlights in search hits)."""
    return _current


def system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def resolve(theme: str) -> Colors:
    if theme == "dark":
        return DARK
    if theme == "light":
        return LIGHT
    return DARK if system_is_dark() else LIGHT


def palette_for(c: Colors) -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: c.window,
        QPalette.ColorRole.WindowText: c.text,
        QPalette.ColorRole.Base: c.base,
        QPalette.ColorRole.AlternateBase: c.alt,
        QPalette.ColorRole.ToolTipBase: c.base,
        QPalette.ColorRole.ToolTipText: c.text,
        QPalette.ColorRole.PlaceholderText: c.muted,
        QPalette.ColorRole.Text: c.text,
        QPalette.ColorRole.Button: c.alt,
        QPalette.ColorRole.ButtonText: c.text,
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: c.accent,
        QPalette.ColorRole.HighlightedText: c.accent_text,
        QPalette.ColorRole.Link: c.accent,
        QPalette.ColorRole.Mid: c.border,
        QPalette.ColorRole.Midlight: c.alt,
        QPalette.ColorRole.Dark: c.border,
        QPalette.ColorRole.Light: c.base,
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(c.muted))
    return p


STYLE = """
QWidget {{ font-size: 10pt; }}
QMainWindow, QDialog {{ background: {window}; }}
QToolTip {{ color: {text}; background: {base}; border: 1px solid {border}; }}
#NavBar {{ background: {panel}; border-right: 1px solid {border}; }}
#NavBar QLabel#AppTitle {{ font-size: 13pt; font-weight: 600; padding: 14px 16px 10px 16px; }}
#NavList {{ background: transparent; border: none; outline: none; }}
#NavList::item {{ padding: 8px 14px; margin: 1px 8px; border-radius: 6px; color: {text}; }}
#NavList::item:hover {{ background: {alt}; }}
#NavList::item:selected {{ background: {accent}; color: {accent_text}; }}
QPushButton {{ padding: 5px 12px; border: 1px solid {border}; border-radius: 6px;
    background: {base}; }}
QPushButton:hover {{ border-color: {accent}; }}
QPushButton:disabled {{ color: {muted}; }}
QPushButton#Primary {{ background: {accent}; color: {accent_text}; border-color: {accent}; }}
QPushButton#Primary:disabled {{ background: {border}; border-color: {border}; }}
QPushButton#Danger {{ color: {error_text}; }}
QToolButton#Flat {{ border: none; padding: 2px 6px; color: {muted}; border-radius: 4px; }}
QToolButton#Flat:hover {{ background: {alt}; color: {text}; }}
QToolButton#Flat:disabled {{ color: {border}; }}
QLineEdit, QPlainTextEdit {{
    border: 1px solid {border}; border-radius: 6px; padding: 4px 6px; background: {base}; }}
QLineEdit:focus, QPlainTextEdit:focus {{ border-color: {accent}; }}
QSpinBox, QDoubleSpinBox, QComboBox {{ min-height: 24px; }}
QToolButton#Toggle {{ padding: 4px 10px; border: 1px solid {border}; border-radius: 6px; }}
QToolButton#Toggle:checked {{ background: {bubble}; border-color: {accent}; }}
QListWidget#SideList {{ background: {base}; border: 1px solid {border}; border-radius: 8px;
    outline: none; padding: 4px; }}
QListWidget#SideList::item {{ padding: 7px 8px; border-radius: 6px; }}
QListWidget#SideList::item:selected {{ background: {bubble}; color: {text}; }}
QListWidget#SideList::item:hover {{ background: {alt}; }}
QScrollArea#ChatScroll, QWidget#ChatColumn {{ background: {base}; border: none; }}
QFrame#ChatPane {{ background: {base}; border: 1px solid {border}; border-radius: 8px; }}
QFrame#Composer {{ background: {base}; border: 1px solid {border}; border-radius: 10px; }}
QFrame#Composer QPlainTextEdit {{ border: none; background: transparent; }}
QFrame#UserBubble {{ background: {bubble}; border-radius: 10px; }}
QFrame#AssistantMessage {{ background: transparent; }}
QLabel#Role {{ font-weight: 600; }}
QLabel#Muted, QLabel#Metrics {{ color: {muted}; }}
QLabel#Metrics {{ font-size: 9pt; }}
QLabel#ErrorText {{ color: {error_text}; }}
QLabel#Heading {{ font-size: 16pt; font-weight: 600; }}
QLabel#SubHeading {{ font-size: 11pt; font-weight: 600; }}
QFrame#CodeBlock {{ background: {code_bg}; border: 1px solid {code_border};
    border-radius: 6px; }}
QFrame#CodeBlock QLabel {{ color: {muted}; font-size: 9pt; }}
QFrame#CodeHeader {{ border-bottom: 1px solid {code_border}; }}
QFrame#Banner {{ background: {error_bg}; border-radius: 6px; }}
QFrame#Banner QLabel {{ color: {error_text}; }}
QFrame#InfoBanner {{ background: {bubble}; border-radius: 6px; }}
QFrame#Card {{ background: {base}; border: 1px solid {border}; border-radius: 8px; }}
QFrame#Panel {{ background: {window}; border-left: 1px solid {border}; }}
QTextBrowser {{ background: transparent; border: none; }}
QStatusBar {{ background: {panel}; border-top: 1px solid {border}; color: {muted}; }}
QStatusBar QLabel {{ color: {muted}; padding: 0 6px; }}
QProgressBar {{ border: 1px solid {border}; border-radius: 4px; background: {base};
    max-height: 10px; }}
QProgressBar::chunk {{ background: {accent}; border-radius: 3px; }}
"""


def stylesheet(c: Colors) -> str:
    return STYLE.format(**c.__dict__)


def apply_theme(app: QApplication, theme: str) -> Colors:
    """Set Fusion, the palette and the style sheet for ``theme`` (system, light, dark)."""
    global _current
    colors = resolve(theme)
    _current = colors
    app.setStyle("Fusion")
    app.setPalette(palette_for(colors))
    app.setStyleSheet(stylesheet(colors))
    return colors


def app_icon() -> QIcon:
    """The window icon, drawn rather than shipped: a rounded square with a W."""
    icon = QIcon()
    for size in (16, 32, 64, 128, 256):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setBrush(QColor("#2f6fed"))
        painter.setPen(Qt.PenStyle.NoPen)
        radius = size * 0.22
        painter.drawRoundedRect(0, 0, size, size, radius, radius)
        font = QFont()
        font.setBold(True)
        font.setPixelSize(int(size * 0.62))
        painter.setFont(font)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "W")
        painter.end()
        icon.addPixmap(pixmap)
    return icon
