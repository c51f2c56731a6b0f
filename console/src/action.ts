// What a page with write buttons keeps: its error line, a reload counter its loading effect
// depends on, and `act`, which runs one write and then reloads the page's data, or shows why the
// write failed.
import { useState } from 'preact/hooks';

export function useAction() {
  const [error, setError] = useState('');
  const [reload, setReload] = useState(0);
  const act = async (f: () => Promise<void>) => {
    setError('');
    try {
      await f();
      setReload(reload + 1);
    } catch (e) {
      setError(String((e as Error).message));
    }
  };
  return { error, setError, reload, act };
}
