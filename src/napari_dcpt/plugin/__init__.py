"""The napari plugin: reader, writer, widget and sample data (the only napari/Qt code)."""
