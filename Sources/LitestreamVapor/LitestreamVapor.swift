#if Vapor
public import Vapor
public import LitestreamSupervisor
#endif
