"""Pulumi ComponentResources for the Kubernetes target (kind, minikube or an existing cluster).

The only package besides targets/kubernetes.py that imports pulumi; importing this package itself does not.
"""
