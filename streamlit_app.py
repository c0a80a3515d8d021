"""Neural Playground: `streamlit run streamlit_app.py` (or `make run`)."""
from playground.ui.app import main

main()
