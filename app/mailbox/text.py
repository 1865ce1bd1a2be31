"""The new text of a reply read from the mailbox (app/mailbox/inbound.py): HTML turned into
readable plain text by a small linear tokenizer (Python 3.11's html.parser is quadratic on
unclosed tags and raises on some declarations; mail comes from anyone), and the quoted original,
its attribution line ("On … wrote:", "Am … schrieb:", Outlook's From/Sent block) and a mobile or
"-- " signature cut away. Pure and bounded: text in, text out."""

from __future__ import annotations

import re
from html import unescape as html_unescape

MAX_TEXT = 200_000                # characters of a plain text examined
MAX_HTML = 1_000_000              # characters of an HTML text converted
WHITESPACE = re.compile(r"\s+")
INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")

# ---------------------------------------------------------------------------- HTML to text


# One token of HTML: a comment (to its end, or the text's), a declaration or processing
# instruction, a tag (group 1 "/" for an end tag, 2 the name, 3 the attributes), text, or a "<"
# that starts none of these. No alternative looks past the next "<" outside quotes, so the
# scan is linear even in hostile input (Python 3.11's html.parser is quadratic on "<a <a <a …"
# and raises on "<![<!["; mail comes from anyone).
_HTML_TOKEN = re.compile(
    r"<!--.*?(?:--!?>|\Z)|<![^>]*>?|<\?[^>]*>?"
    r"|<(/?)([A-Za-z][A-Za-z0-9:_.-]*)((?:[^<>\"']|\"[^\"]*\"|'[^']*')*)>"
    r"|[^<]+|<", re.DOTALL)
_RAW_TEXT = {name: re.compile(rf"</{name}\s*>", re.IGNORECASE)
             for name in ("script", "style", "textarea", "xmp")}
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "area", "base", "col",
                   "embed", "source", "track", "param"})


class _TextMaker:
    """Readable text from HTML tokens: blocks and <br> give line breaks, paragraphs a blank
    line, list items a "- " or "1. ", quoted blocks ("blockquote") a "> " per level; scripts,
    styles and the head are dropped; links give their text."""

    _BLOCK = frozenset({"address", "article", "aside", "center", "dd", "details", "div", "dl",
                        "dt", "fieldset", "figcaption", "figure", "footer", "form", "header",
                        "main", "nav", "section", "summary", "caption", "tr", "li"})
    _PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
                            "table", "ul", "ol", "hr"})
    _SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg",
                       "object", "iframe", "xml"})

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.line: list[str] = []
        self.line_depth = 0
        self.last_depth = 0
        self.pending = 0
        self.skip: list[str] = []
        self.quote = 0
        self.pre = 0
        self.lists: list[list] = []

    # output
    def _flush(self) -> None:
        text = "".join(self.line).rstrip()
        if self.line_depth:
            text = ">" * self.line_depth + (" " + text if text else "")
        self.lines.append(text)
        self.last_depth = self.line_depth
        self.line = []

    def _break(self, blank: int) -> None:
        self.pending = max(self.pending, blank)

    def _write(self, text: str) -> None:
        if not text:
            return
        if self.pending:
            if self.line:
                self._flush()
            if self.pending > 1 and self.lines and self.lines[-1].strip("> "):
                self.line_depth = min(self.quote, self.last_depth)     # a quote's own blank
                self._flush()
            self.pending = 0
        if not self.line:
            if not self.pre:
                text = text.lstrip(" ")
                if not text:
                    return
            self.line_depth = self.quote
        elif not self.pre and text.startswith(" ") and self.line[-1].endswith(" "):
            text = text.lstrip(" ")
        self.line.append(text)

    # parser events
    def handle_starttag(self, tag: str, attrs) -> None:
        tag = tag.lower()
        if tag == "body":
            self.skip = [t for t in self.skip if t not in ("head", "title")]
            return
        if tag in self._SKIP:
            self.skip.append(tag)
            return
        if self.skip:
            return
        if tag == "br":
            if not self.line:
                self.line_depth = self.quote
            self._flush()
        elif tag in self._PARAGRAPH:
            self._break(2)
            if tag == "blockquote":
                self.quote += 1
            elif tag == "pre":
                self.pre += 1
            elif tag in ("ul", "ol"):
                self.lists.append([tag, 0])
        elif tag == "li":
            self._break(1)
            marker = "- "
            if self.lists and self.lists[-1][0] == "ol":
                self.lists[-1][1] += 1
                marker = f"{self.lists[-1][1]}. "
            self._write(marker)
        elif tag in self._BLOCK:
            self._break(1)
        elif tag in ("td", "th") and self.line:
            self._write(" ")

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if tag in self._SKIP:
            if tag in self.skip:
                while self.skip and self.skip.pop() != tag:
                    pass
            return
        if self.skip:
            return
        if tag in self._PARAGRAPH:
            self._break(2)
            if tag == "blockquote" and self.quote:
                if self.line:
                    self._flush()
                self.quote -= 1
            elif tag == "pre" and self.pre:
                self.pre -= 1
            elif tag in ("ul", "ol") and self.lists:
                self.lists.pop()
        elif tag in self._BLOCK:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            parts = data.replace("\r\n", "\n").split("\n")
            for n, piece in enumerate(parts):
                if n:
                    if not self.line:
                        self.line_depth = self.quote
                    self._flush()
                self._write(piece)
        else:
            self._write(WHITESPACE.sub(" ", data))

    def text(self) -> str:
        if self.line:
            self._flush()
        return "\n".join(self.lines)


def _tidy(text: str) -> str:
    """Lines right-stripped, runs of blank lines made one, no blank lines at either end."""
    out: list[str] = []
    for line in text.replace("\xa0", " ").split("\n"):
        line = line.rstrip()
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body (see `_TextMaker`), entities decoded."""
    if not html:
        return ""
    html = html[:MAX_HTML]
    maker = _TextMaker()
    position, end = 0, len(html)
    while position < end:
        token = _HTML_TOKEN.match(html, position)
        if token is None:                                # cannot happen: "<" always matches
            break
        position = token.end()
        name = token.group(2)
        if name:
            name = name.lower()
            if token.group(1):
                maker.handle_endtag(name)
            elif name in _RAW_TEXT:                      # its content is no markup: skip it
                close = _RAW_TEXT[name].search(html, position)
                position = close.end() if close else end
            else:
                maker.handle_starttag(name, None)
                if token.group(3).rstrip().endswith("/") and name not in _VOID:
                    maker.handle_endtag(name)
        elif token.group(0) == "<":
            maker.handle_data("<")
        elif not token.group(0).startswith("<"):
            maker.handle_data(html_unescape(token.group(0)))
    return _tidy(INVISIBLE.sub("", maker.text()))


# ---------------------------------------------------------------------------- reply text

_ATTRIBUTION = [re.compile(p, re.IGNORECASE) for p in (
    r"on\b.{1,250}\bwrote\s?:",                               # Gmail, Apple, Thunderbird
    r"am\b.{1,250}\bschrieb\b.{0,250}:",                      # German
    r"le\b.{1,250}\ba écrit\s?:",                             # French
    r"el\b.{1,250}\bescribió\s?:",                            # Spanish
    r"il\b.{1,250}\bha scritto\s?:",                          # Italian
    r"op\b.{1,250}\bschreef\b.{0,250}:",                      # Dutch
    r"em\b.{1,250}\bescreveu\s?:",                            # Portuguese
    r"(?:den|på)\b.{1,250}\bskrev\b.{0,250}:",                # Scandinavian
)]
_WROTE_END = re.compile(r".{1,200}\b(?:wrote|schrieb|a écrit|escribió|ha scritto|schreef|"
                        r"escreveu|skrev)\s?:$", re.IGNORECASE)
_SEPARATOR = re.compile(
    r"^(?:_{10,}|-{2,}\s*(?:original message|ursprüngliche nachricht|originalnachricht|"
    r"message d'origine|messaggio originale|mensaje original|oorspronkelijk bericht|"
    r"opprinnelig melding|oprindelig meddelelse|ursprungligt meddelande|alkuperäinen viesti|"
    r"wiadomość oryginalna|forwarded message|weitergeleitete nachricht|message transféré|"
    r"mensaje reenviado|messaggio inoltrato|doorgestuurd bericht)\s*-{2,})$", re.IGNORECASE)
_FROM_LINE = re.compile(
    r"^\*?(?:from|von|de|da|van|fra|från|od|lähettäjä|от|від)\s?:\*?\s*\S", re.IGNORECASE)
_SENT_LINE = re.compile(r"^\*?(?:sent|date|gesendet|datum|envoyé|enviado|inviato|verzonden|"
                        r"sendt|skickat|wysłano|lähetetty|data|fecha|отправлено)\s?:",
                        re.IGNORECASE)
_SUBJECT_LINE = re.compile(r"^\*?(?:subject|betreff|objet|asunto|oggetto|onderwerp|emne|"
                           r"ämne|temat|aihe|assunto|тема)\s?:", re.IGNORECASE)
_MOBILE_SIGNATURE = re.compile(
    r"^(?:sent from my .{1,40}|sent from (?:mail|outlook|yahoo mail|samsung|proton ?mail)\b.{0,40}|"
    r"get outlook for (?:ios|android).{0,40}|von meinem .{1,40} gesendet|"
    r"gesendet von meinem .{1,40}|envoyé de mon .{1,40}|enviado desde mi .{1,40}|"
    r"inviato da(?:l mio)? .{1,40}|verzonden (?:vanaf|met) mijn .{1,40}|"
    r"skickat från min .{1,40})\.?$", re.IGNORECASE)


def _cuts_here(lines: list[str], i: int) -> bool:
    """Whether line i starts the quoted original (an attribution, a separator, a header block)."""
    line = lines[i].strip()
    bare = line.lstrip("> ").strip()
    if _SEPARATOR.match(bare):
        return True
    joined = ""
    for k in range(3):                                   # an attribution wrapped on 3 lines
        if i + k >= len(lines):
            break
        piece = lines[i + k].strip().lstrip("> ").strip() if k else bare
        if k and not piece:
            break
        joined = f"{joined} {piece}".strip()
        if any(p.fullmatch(joined) for p in _ATTRIBUTION):
            return True
    if _WROTE_END.match(bare):                            # "Name wrote:" above a quote
        for later in lines[i + 1:i + 4]:
            if later.strip():
                return later.lstrip().startswith(">")
    if _FROM_LINE.match(bare):
        window = [w.lstrip("> ").strip() for w in lines[i + 1:i + 8]]
        return any(_SENT_LINE.match(w) for w in window) and \
            any(_SUBJECT_LINE.match(w) for w in window)
    return False


def reply_text(plain: str) -> str:
    """The new text of a reply: quoted lines (">"), the quoted original under an attribution
    ("On … wrote:", "Am … schrieb …:", "Le … a écrit :"), an Outlook separator or header
    block ("-----Original Message-----", "From: … Sent: … Subject:", a line of underscores), the
    signature ("-- " and what follows, "Sent from my iPhone") and blank lines at the ends
    dropped."""
    if not plain:
        return ""
    text = INVISIBLE.sub("", plain[:MAX_TEXT]).replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.replace("\xa0", " ").rstrip() for line in text.split("\n")]
    kept: list[str] = []
    for i, line in enumerate(lines):
        if _cuts_here(lines, i):
            break
        if line.lstrip().startswith(">"):
            continue
        if line in ("--", "-- "):
            break
        kept.append(line)
    while True:
        while kept and not kept[-1].strip():
            kept.pop()
        if kept and _MOBILE_SIGNATURE.match(kept[-1].strip()):
            kept.pop()
            continue
        break
    return _tidy("\n".join(kept)).strip("\n")


