import LTX
