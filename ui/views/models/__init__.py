"""The models page and its tabs: library, Hub search, recommended, downloads and quantisation."""
