package agent

import "github.com/haproxytech/client-native/v6/models"

// The RuntimeAPI methods, each on the lazily made client.

func (l *lazyRuntime) NewCertEntry(name string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.NewCertEntry(name)
}

func (l *lazyRuntime) SetCertEntry(name, payload string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.SetCertEntry(name, payload)
}

func (l *lazyRuntime) CommitCertEntry(name string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.CommitCertEntry(name)
}

func (l *lazyRuntime) DeleteCertEntry(name string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.DeleteCertEntry(name)
}

func (l *lazyRuntime) SetCAFile(name, payload string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.SetCAFile(name, payload)
}

func (l *lazyRuntime) CommitCAFile(name string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.CommitCAFile(name)
}

func (l *lazyRuntime) SetCrlFile(name, payload string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.SetCrlFile(name, payload)
}

func (l *lazyRuntime) CommitCrlFile(name string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.CommitCrlFile(name)
}

func (l *lazyRuntime) AddCrtListEntry(list string, e models.SslCrtListEntry) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.AddCrtListEntry(list, e)
}

func (l *lazyRuntime) DeleteCrtListEntry(list, file string, line *int64) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.DeleteCrtListEntry(list, file, line)
}

func (l *lazyRuntime) AddServer(backend, name, attrs string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.AddServer(backend, name, attrs)
}

func (l *lazyRuntime) SetServerState(backend, name, state string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.SetServerState(backend, name, state)
}

func (l *lazyRuntime) DeleteServer(backend, name string) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.DeleteServer(backend, name)
}

func (l *lazyRuntime) ExecuteRaw(cmd string) (string, error) {
	c, err := l.get()
	if err != nil {
		return "", err
	}
	return c.ExecuteRaw(cmd)
}
