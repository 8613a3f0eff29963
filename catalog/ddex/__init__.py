"""DDEX ERN catalog deliveries (Electronic Release Notification 4.3 and 3.8) into the catalog.

`safexml` parses a message without trusting it; `ern` reads a NewReleaseMessage of either version into
plain records with the XPath and line of every element it took a value from; `batch` finds the messages
of a batch folder (or a zip of one) once its completion marker is there; `ingest` turns them into the rows
of the catalog import (catalog.importer), writes them through it, and applies takedowns. docs/ddex.md
holds the field mapping and what is ignored.
"""
