public enum ParleyWebRTCPlaceholder {}
