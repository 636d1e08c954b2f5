import ParleyWebRTC
print("parley")
