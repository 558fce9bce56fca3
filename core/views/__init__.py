"""What pages and reports draw: charts, inside the network, explanations, maps, reports."""
