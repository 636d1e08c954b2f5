import Testing
import ParleyRouting
