"""Build-time code for `build.py`: vendoring, model conversion, packing and the manifest.

Nothing here ships into the page.
"""
