"""The spatial core of Yizhan: layers, coordinates, assignment, nearest stations."""
