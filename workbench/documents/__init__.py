"""Your documents, privately (issue 22): collections of files and folders, indexed into the
workspace database, searched by keyword (SQLite FTS5, BM25) with the page or section of each
passage. Nothing leaves the machine and the files are never copied or changed.

- :mod:`.extract` turns one file into text blocks (with :mod:`.office` for PDF and DOCX and
  :mod:`.html_text` for HTML), or into one line saying why it cannot.
- :mod:`.chunking` cuts those blocks into overlapping passages that keep to pages and sections.
- :mod:`.collections` owns the stored collections and files; :mod:`.indexing` is the
  stoppable indexing run; :mod:`.search` is keyword retrieval.
"""
