"""DL Studio core: models, data, the one trainer, run store and CLI. Never imports Streamlit."""
