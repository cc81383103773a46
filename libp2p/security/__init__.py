"""Security channels (Noise, TLS): sans-IO handshakes and the transport framing they produce."""
