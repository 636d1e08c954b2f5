import Testing
import ParleyRelay
