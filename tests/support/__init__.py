"""What the tests share: AppTest and Chromium drivers, waiting, a throwaway PostgreSQL, spoken streams."""
