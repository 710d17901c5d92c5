"""The govsim dashboard: a Streamlit app over run directories (``govsim dashboard DIR``).

- ``app.py``: the entry point (``streamlit run web/app.py -- --root DIR``) and navigation;
- ``paths.py``: keeping every read inside the folder the dashboard was started on;
- ``data.py``: tables derived from run-log events (no Streamlit, unit-testable);
- ``decisions.py``: each decision linked to the LLM calls, retries, issues and recalled
  memories behind it (no Streamlit); ``trace_ui.py`` shows those traces as lazy expanders;
- ``groups.py``: stock and catch per month across each Compare group's runs (no Streamlit);
- ``charts.py``: the plotly figures;
- ``ui.py``: shared Streamlit pieces (the run root, cached loading of runs and of the
  tables, traces and charts derived from them, the run picker, the error guard every page
  runs under);
- ``views/``: one module per page.

Runs are read only through ``govsim.runlog.read_run``, and only under the dashboard's
folder; damaged logs show what is valid plus a warning naming what is not.
"""
