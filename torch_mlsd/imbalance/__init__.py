"""imbalance"""
