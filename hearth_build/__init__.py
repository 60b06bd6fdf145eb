"""Build-time code for `build.py`: vendoring, packing and (later) model conversion.

Nothing here ships into the page.
"""
