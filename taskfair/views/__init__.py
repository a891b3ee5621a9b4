"""What the dashboard reads and ships, without Streamlit: ``ship`` (every slider position's
rows, texts and figures, packed for a browser or a static share), ``readings`` (the
recommendation, the Pareto front, vector geometry, the bound's L) and ``admission`` (the
bound on exact evaluations per session and overall)."""
