"""Streamlit pieces shared by the pages: services, training panel, results panel."""
