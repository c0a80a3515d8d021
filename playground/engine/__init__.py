"""The engine: one training loop, background jobs and the on-disk run store. No Streamlit here."""
