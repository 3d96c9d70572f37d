"""the model core"""
