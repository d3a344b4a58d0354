#if Hummingbird
public import Hummingbird
public import LitestreamSupervisor
#endif
