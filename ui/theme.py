"""Light and dark looks on Qt's Fusion style, following the OS unless the user chose one.

Fusion draws the same on every platform, so one palette and one small style sheet give a
tidy, current look everywhere. Widgets never pick colours themselves: they set an object
name (``CodeBlock``, ``UserBubble``...) and this style sheet colours it, so switching theme
restyles every open widget at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QIcon,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleOption, QWidget


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
    # Filled accent (selected page, Primary buttons, selection) and the text drawn on it: in
    # dark mode the link-blue ``accent`` is too light for white text (3.2:1), so it is apart.
    primary: str
    primary_text: str
    warn: str          # text: "partial fit", "paused"
    info: str          # text: "In library", notes
    ok_bg: str         # a passed check's cell (``text`` on it)
    fail_bg: str       # a failed check's cell (``text`` on it)
    info_bg: str
    ok_border: str
    error_border: str
    info_border: str
    # Chart series (non-text graphics: WCAG asks 3:1 against the chart's background).
    series: tuple[str, ...]
    # The edge of a check box or radio button (a control's boundary: 3:1 against the
    # window and the box's own fill). Fusion's own edge is the window colour darkened,
    # nearly invisible in the dark look (1.1:1).
    control_edge: str = ""


LIGHT = Colors(
    window="#f5f6f8", base="#ffffff", alt="#f0f2f5", panel="#eceef2", text="#1f2328",
    muted="#5f6771", border="#d8dce2", accent="#2a64d8", accent_text="#ffffff",
    bubble="#e8effd", code_bg="#f6f8fa", code_border="#d8dee4", highlight_bg="#fff2a8",
    error_bg="#fdecea", error_text="#a4262c", ok="#17743a",
    primary="#2a64d8", primary_text="#ffffff", warn="#955200", info="#1f5fbf",
    ok_bg="#dcf2e3", fail_bg="#fbe0e0", info_bg="#e8f1fd", ok_border="#b7dfc2",
    error_border="#f5c2c0", info_border="#c6dafc",
    series=("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"),
    control_edge="#7a828c",
)
DARK = Colors(
    window="#1e1f22", base="#26282c", alt="#2b2d31", panel="#191a1c", text="#e6e7e9",
    muted="#a3a7ae", border="#3a3d42", accent="#6b97ff", accent_text="#0d1117",
    bubble="#2f3a52", code_bg="#17181a", code_border="#3a3d42", highlight_bg="#6b5a12",
    error_bg="#4a2225", error_text="#ffb3b0", ok="#5cc870",
    primary="#3a6ae6", primary_text="#ffffff", warn="#e3a93b", info="#8ab4ff",
    ok_bg="#1f3b2a", fail_bg="#4a2225", info_bg="#1d2b3f", ok_border="#2e5a3a",
    error_border="#6b2c2c", info_border="#2f4a70",
    series=("#60a5fa", "#f87171", "#4ade80", "#c084fc", "#fb923c", "#22d3ee"),
    control_edge="#8d929a",
)

TEXT_PAIRS: tuple[tuple[str, str], ...] = (
    # (foreground role, background role) for every text the window draws; the contrast
    # test holds each to WCAG AA (4.5:1) in both looks. Keep it in step with STYLE and with
    # the table models' foreground colours (:func:`role_color`).
    ("text", "window"), ("text", "base"), ("text", "alt"), ("text", "panel"),
    ("text", "bubble"), ("text", "code_bg"), ("text", "highlight_bg"),
    ("text", "ok_bg"), ("text", "fail_bg"), ("text", "info_bg"), ("text", "error_bg"),
    ("muted", "window"), ("muted", "base"), ("muted", "alt"), ("muted", "panel"),
    ("muted", "code_bg"), ("muted", "bubble"),
    ("accent", "base"), ("accent", "window"), ("accent", "alt"),
    ("primary_text", "primary"),
    ("ok", "base"), ("ok", "alt"), ("ok", "window"), ("ok", "ok_bg"),
    ("warn", "base"), ("warn", "alt"), ("warn", "window"),
    ("info", "base"), ("info", "alt"), ("info", "window"), ("info", "info_bg"),
    ("error_text", "base"), ("error_text", "alt"), ("error_text", "window"),
    ("error_text", "error_bg"),
)

_current = LIGHT


def current() -> Colors:
    """The colours in use (for the few places that paint: highlights in search hits)."""
    return _current


def role_color(role: str) -> QColor:
    """A role of the current look as a QColor: table models colour their cells with this
    (``role_color("ok")``), so no model or widget holds a colour of its own."""
    return QColor(getattr(_current, role))


def contrast(foreground: str, background: str) -> float:
    """WCAG 2.1 contrast ratio of two ``#rrggbb`` colours (1 to 21)."""

    def luminance(colour: str) -> float:
        value = colour.lstrip("#")
        channels = [int(value[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
                  for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


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
        QPalette.ColorRole.BrightText: c.primary_text,
        QPalette.ColorRole.Highlight: c.primary,
        QPalette.ColorRole.HighlightedText: c.primary_text,
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


class ThemedStyle(QProxyStyle):
    """Fusion, with check box and radio button edges drawn in the look's ``control_edge``
    (over Fusion's own faint one), so they show in the dark look too. Colours are read at
    paint time: one instance serves both looks."""

    def drawPrimitive(self, element: QStyle.PrimitiveElement, option: QStyleOption,  # noqa: N802
                      painter: QPainter, widget: QWidget | None = None) -> None:
        super().drawPrimitive(element, option, painter, widget)
        kind = QStyle.PrimitiveElement
        if element not in (kind.PE_IndicatorCheckBox, kind.PE_IndicatorRadioButton):
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing,
                              element == kind.PE_IndicatorRadioButton)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(_current.control_edge), 1))
        rect = QRectF(option.rect).adjusted(0.5, 0.5, -1.5, -1.5)  # type: ignore[attr-defined]
        if element == kind.PE_IndicatorRadioButton:
            painter.drawEllipse(rect)
        else:
            painter.drawRect(rect)
        painter.restore()


_style: ThemedStyle | None = None  # one per process: Qt owns it once set


STYLE = """
QWidget {{ font-size: 10pt; }}
QMainWindow, QDialog {{ background: {window}; }}
QDialogButtonBox {{ dialogbuttonbox-buttons-have-icons: 0; }}
QToolTip {{ color: {text}; background: {base}; border: 1px solid {border}; }}
#NavBar {{ background: {panel}; border-right: 1px solid {border}; }}
#NavBar QLabel#AppTitle {{ font-size: 13pt; font-weight: 600; padding: 14px 16px 10px 16px; }}
#NavList {{ background: transparent; border: none; outline: none; }}
#NavList::item {{ padding: 8px 14px; margin: 1px 8px; border-radius: 6px; color: {text}; }}
#NavList::item:hover {{ background: {alt}; }}
#NavList::item:selected {{ background: {primary}; color: {primary_text}; }}
QPushButton {{ padding: 5px 12px; border: 1px solid {border}; border-radius: 6px;
    background: {base}; }}
QPushButton:hover {{ border-color: {accent}; }}
QPushButton:disabled {{ color: {muted}; }}
QPushButton#Primary {{ background: {primary}; color: {primary_text}; border-color: {primary}; }}
QPushButton#Primary:disabled {{ background: {alt}; color: {muted}; border-color: {border}; }}
QPushButton#Danger {{ color: {error_text}; }}
QToolButton#Flat {{ border: none; padding: 2px 6px; color: {muted}; border-radius: 4px; }}
QToolButton#Flat:hover {{ background: {alt}; color: {text}; }}
QToolButton#Flat:disabled {{ color: {muted}; }}
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
QLabel#OkText {{ color: {ok}; }}
QFrame#messageBar {{ border-radius: 6px; background: {info_bg}; border: 1px solid {info_border}; }}
QFrame#messageBar QLabel {{ color: {info}; }}
QFrame#messageBar[kind="error"] {{ background: {error_bg}; border-color: {error_border}; }}
QFrame#messageBar[kind="error"] QLabel {{ color: {error_text}; }}
QFrame#messageBar[kind="ok"] {{ background: {ok_bg}; border-color: {ok_border}; }}
QFrame#messageBar[kind="ok"] QLabel {{ color: {ok}; }}
QLabel#Heading {{ font-size: 16pt; font-weight: 600; }}
QLabel#SubHeading {{ font-size: 11pt; font-weight: 600; }}
QFrame#CodeBlock {{ background: {code_bg}; border: 1px solid {code_border};
    border-radius: 6px; }}
QFrame#CodeBlock QLabel {{ color: {muted}; font-size: 9pt; }}
QFrame#CodeHeader {{ border-bottom: 1px solid {code_border}; }}
QFrame#CodeBlock QScrollBar:horizontal {{ background: {code_bg}; height: 10px;
    margin: 0 4px 2px 4px; border: none; }}
QFrame#CodeBlock QScrollBar::handle:horizontal {{ background: {control_edge}; border-radius: 4px;
    min-width: 32px; }}
QFrame#CodeBlock QScrollBar::add-line:horizontal,
QFrame#CodeBlock QScrollBar::sub-line:horizontal {{
    width: 0; border: none; background: none; }}
QFrame#CodeBlock QScrollBar::add-page:horizontal,
QFrame#CodeBlock QScrollBar::sub-page:horizontal {{
    background: none; }}
QFrame#Banner {{ background: {error_bg}; border-radius: 6px; }}
QFrame#Banner QLabel {{ color: {error_text}; }}
QFrame#InfoBanner {{ background: {bubble}; border-radius: 6px; }}
#ModelsTabs QTabBar::tab, #PageTabs QTabBar::tab {{ padding: 9px 18px; margin: 0 2px;
    border: none; border-bottom: 2px solid transparent; background: transparent; }}
#ModelsTabs QTabBar::tab:selected, #PageTabs QTabBar::tab:selected {{
    border-bottom: 2px solid {accent}; font-weight: 600; }}
#ModelsTabs QTabBar::tab:hover:!selected, #PageTabs QTabBar::tab:hover:!selected {{
    border-bottom: 2px solid {border}; }}
#ModelsTabs::pane, #PageTabs::pane {{ border: none; border-top: 1px solid {border}; }}
QFrame#Card {{ background: {base}; border: 1px solid {border}; border-radius: 8px; }}
QFrame#Panel {{ background: {window}; border-left: 1px solid {border}; }}
QScrollArea#PanelScroll {{ background: {window}; border: none; }}
QScrollArea#CardScroll, QWidget#CardScrollBody {{ background: {base}; border: none; }}
QTextBrowser {{ background: transparent; border: none; }}
QStatusBar {{ background: {panel}; border-top: 1px solid {border}; color: {muted}; }}
QStatusBar QLabel {{ color: {muted}; padding: 0 6px; }}
QProgressBar {{ border: 1px solid {border}; border-radius: 4px; background: {base};
    max-height: 10px; }}
QProgressBar::chunk {{ background: {accent}; border-radius: 3px; }}
QFrame#ToolCall {{ background: {code_bg}; border: 1px solid {code_border}; border-radius: 6px; }}
QFrame#ToolCall QLabel#ToolName {{ font-weight: 600; }}
QLabel#Mono {{ font-family: monospace; font-size: 9pt; }}
QFrame#ToolCall QPlainTextEdit {{ font-family: monospace; font-size: 9pt; }}
QFrame#ApprovalBar {{ background: {info_bg}; border: 1px solid {info_border};
    border-radius: 8px; }}
QFrame#ToolsPanel QPushButton {{ padding: 4px 5px; }}
QTreeWidget#ToolsTree {{ background: {base}; border: 1px solid {border}; border-radius: 6px; }}
"""


def stylesheet(c: Colors) -> str:
    return STYLE.format(**{k: v for k, v in c.__dict__.items() if isinstance(v, str)})


def apply_theme(app: QApplication, theme: str) -> Colors:
    """Set Fusion, the palette and the style sheet for ``theme`` (system, light, dark)."""
    global _current
    colors = resolve(theme)
    _current = colors
    global _style
    if _style is None:  # set once: setting a style again would delete the one in use
        _style = ThemedStyle("Fusion")
        app.setStyle(_style)
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
        painter.setBrush(QColor(LIGHT.primary))
        painter.setPen(Qt.PenStyle.NoPen)
        radius = size * 0.22
        painter.drawRoundedRect(0, 0, size, size, radius, radius)
        font = QFont()
        font.setBold(True)
        font.setPixelSize(int(size * 0.62))
        painter.setFont(font)
        painter.setPen(QColor(LIGHT.primary_text))
        painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, "W")
        painter.end()
        icon.addPixmap(pixmap)
    return icon
