//! Import of PyTorch `nn.Sequential` models (state dict as safetensors + printed architecture).
