"""One module per dashboard page. Each defines ``render()`` and runs it (under
``web.ui.guarded``) only when Streamlit executes the file as a page, so the modules
can also be imported.
"""
