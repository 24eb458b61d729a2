def get_reader(path):
    return None
