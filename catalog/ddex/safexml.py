"""Parse untrusted XML: defusedxml with DTDs forbidden, bounded size, and every element's line and XPath.

DDEX messages never carry a DOCTYPE, so any DTD is refused outright: a billion-laughs file and an
external-entity file stop at their DOCTYPE, before a single entity is expanded or fetched. The input is
fed to expat in blocks and counted, so a file larger than the limit (whatever size it declares) stops at
the limit with memory bounded by it.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

FEED_BYTES = 1 << 16  # expat is fed in 64 KiB blocks: the memory a read holds besides the tree


class UnsafeXml(ValueError):
    """The document is refused: a DTD or entity, too large, or not well-formed XML. `line` where known."""

    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class XmlDocument:
    root: Element
    lines: dict[Element, int]
    paths: dict[Element, str]
    namespace: str  # the root element's namespace URI ("" if none)

    def line(self, element: Element | None) -> int:
        return self.lines.get(element, 0) if element is not None else 0

    def path(self, element: Element | None) -> str:
        return self.paths.get(element, "") if element is not None else ""


class _Target(TreeBuilder):
    """Builds the tree with local names (namespaces dropped) and records each element's line and XPath."""

    def __init__(self):
        super().__init__()
        self.parser: DefusedXMLParser | None = None
        self.lines: dict[Element, int] = {}
        self.paths: dict[Element, str] = {}
        self._stack: list[tuple[str, dict[str, int]]] = [("", {})]
        self.namespace: str | None = None

    def start(self, tag, attrs):
        local = tag.rsplit("}", 1)[-1]
        if self.namespace is None:
            self.namespace = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
        parent_path, seen = self._stack[-1]
        position = seen[local] = seen.get(local, 0) + 1
        path = f"{parent_path}/{local}[{position}]" if parent_path else f"/{local}"
        element = super().start(local, {k.rsplit("}", 1)[-1]: v for k, v in attrs.items()})
        self.lines[element] = self.parser.parser.CurrentLineNumber
        self.paths[element] = path
        self._stack.append((path, {}))
        return element

    def end(self, tag):
        self._stack.pop()
        return super().end(tag.rsplit("}", 1)[-1])


def _blocks(source: BinaryIO) -> Iterator[bytes]:
    yield from iter(lambda: source.read(FEED_BYTES), b"")


def parse_xml(source: BinaryIO, *, max_bytes: int) -> XmlDocument:
    """The parsed document, or UnsafeXml. Reads at most `max_bytes` (+ one block) of `source`."""
    target = _Target()
    parser = DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    target.parser = parser
    read = 0
    try:
        for block in _blocks(source):
            read += len(block)
            if read > max_bytes:
                raise UnsafeXml(
                    f"the message is larger than the {max_bytes // (1 << 20)} MiB a message may be"
                )
            parser.feed(block)
        root = parser.close()
    except DefusedXmlException as exc:
        line = parser.parser.CurrentLineNumber if parser.parser else 0
        raise UnsafeXml(f"refused: {exc} (DDEX messages carry no DTD, entities or external references)", line)
    except ParseError as exc:
        raise UnsafeXml(f"not well-formed XML: {exc}", exc.position[0] if exc.position else 0)
    return XmlDocument(root=root, lines=target.lines, paths=target.paths, namespace=target.namespace or "")
